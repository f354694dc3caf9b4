// Types of bench/lifecycle.mjs for test/load-lifecycle.test.ts.
export type Door = 'socket-tcp' | 'socket-unix' | 'http-socket-tcp' | 'http-socket-unix' | 'http';
export type Step = 'cold-start' | 'sighup' | 'sigterm' | 'kill9';
export interface StepResult {
  failed: number;
  total: number;
  refusedAfterStop?: number;
  note?: string;
  error?: string;
}
export const APP: string;
export const DOORS: Door[];
export const STEPS: Step[];
export const RUNTIMES: Array<'node' | 'bun' | 'deno'>;
export function tsgiCommand(runtime: 'node' | 'bun' | 'deno'): [string, string[]];
export function freePort(): Promise<number>;
export function runStep(o: {
  command: [string, string[]];
  door: Door;
  step: Step;
  clients?: number;
  requests?: number;
  stepMs?: number;
  requestMs?: number;
}): Promise<StepResult>;
export function cell(step: Step, r: StepResult): string;
export function broken(step: Step, r: StepResult): boolean;
