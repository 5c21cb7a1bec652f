// Preloaded into a CLI process by the bench (`node --import ./bench/maxrss.mjs bin/bftmr.js ...`):
// prints the process's peak RSS on exit, so a command's memory can be measured without tools.
process.on('exit', () => process.stderr.write(`bench-maxrss-kb ${process.resourceUsage().maxRSS}\n`));
