// Preloaded into a CLI process by the bench (`node --import ./bench/maxrss.mjs bin/bftmr.js ...`):
// prints the process's peak RSS and CPU time (user + system, microseconds) on exit, so a command's
// memory and work can be measured without tools.
process.on('exit', () => {
  const r = process.resourceUsage();
  process.stderr.write(`bench-maxrss-kb ${r.maxRSS}\nbench-cpu-us ${r.userCPUTime + r.systemCPUTime}\n`);
});
