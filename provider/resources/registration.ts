// Pulumi's Node SDK gives each promise it makes while a resource registers (four for every property,
// a few for the resource itself) a stack trace, formatted at once through the program's source maps,
// frame by frame. It prints them only in its leak report with PULUMI_DEBUG_PROMISE_LEAKS set. For a
// fleet that is thousands of traces a run, the largest part of the program's CPU beyond what bare
// resources cost. Not affected: the resource's source position, which the SDK takes with a limit of
// its own. A failed registration's error still names the resource, only without frames.

/** Lowers the stack-trace limit while the SDK registers a resource; call the result to restore it. */
export function withoutPromiseTraces(): () => void {
  if (process.env.PULUMI_DEBUG_PROMISE_LEAKS) return () => undefined;
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  return () => {
    Error.stackTraceLimit = limit;
  };
}

/** Runs `register` (a registration, or registerOutputs) with the limit lowered. */
export function untraced<T>(register: () => T): T {
  const restore = withoutPromiseTraces();
  try {
    return register();
  } finally {
    restore();
  }
}
