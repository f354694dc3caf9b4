// The tsgi side of bench/websocket.sh: an echo on tsgi's portable API.
import { upgradeWebSocket } from '../../mod.ts';

export default (req: Request): Response =>
  upgradeWebSocket(req, {
    message: (ws, data) => void ws.send(data),
  });
