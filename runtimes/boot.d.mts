// Types of boot.mjs (plain JavaScript, loaded before any TypeScript).
import type { RuntimeName } from './types.ts';

export function runtimeName(): RuntimeName;
export const NODE_STRIPPING: string;
export const RUNTIME_UP: { at: number; cpuMs: number };
export function typescriptLoader(): string;
export function enableTypeScript(): Promise<void>;
export function registerTsx(why: string): Promise<void>;
export function saveCompileCache(): void;
