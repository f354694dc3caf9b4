/**
 * A problem with the app that the user must fix; the message says what to do. Apart from app.ts
 * so that the launcher can recognise it without loading what loading an app needs.
 */
export class AppLoadError extends Error {
  override name = 'AppLoadError';
}
