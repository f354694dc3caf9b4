// Bare Deno WebSocket echo server for bench/websocket.sh: Deno.serve and Deno.upgradeWebSocket,
// no tsgi in between.   deno run -A bench/websocket/deno-serve.ts PORT
interface DenoWs {
  onmessage: ((e: MessageEvent) => void) | null;
  send(data: string | ArrayBuffer): void;
}
const Deno = (
  globalThis as unknown as {
    Deno: {
      args: string[];
      serve(o: { port: number; hostname: string; onListen?: () => void }, h: (req: Request) => Response): unknown;
      upgradeWebSocket(req: Request): { socket: DenoWs; response: Response };
    };
  }
).Deno;

Deno.serve({ port: Number(Deno.args[0] ?? 8080), hostname: '127.0.0.1', onListen: () => console.log('bare Deno WebSocket server ready') }, (req) => {
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onmessage = (e) => socket.send(e.data);
  return response;
});
