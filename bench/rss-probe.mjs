// Preloaded (`node --import`) by bench/cli-startup.ts into each process it measures: at exit, write the
// process's peak resident set size in KiB to $HA_REDIS_RSS_FILE. Plain JavaScript, so it loads nothing else.
import { writeFileSync } from 'node:fs';

const file = process.env.HA_REDIS_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
