/** An error in what the user configured: one line, exit code 2 (a module of its own: tsgi's children load no configuration reader). */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
