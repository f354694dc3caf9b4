// Regenerate the README's option table from the option table (src/config/options.ts):
//   npx tsx scripts/gen-options.ts
// test/config.test.ts fails when the README is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { optionsMarkdown } from '../src/config/index.ts';

const path = new URL('../README.md', import.meta.url);
const readme = readFileSync(path, 'utf8');
const next = readme.replace(/(<!-- options:begin -->\n)[\s\S]*?(<!-- options:end -->)/, `$1${optionsMarkdown()}$2`);
if (next === readme) console.log('README.md: option table already current');
else {
  writeFileSync(path, next);
  console.log('README.md: option table regenerated');
}
