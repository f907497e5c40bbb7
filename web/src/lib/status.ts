// Run statuses: which are terminal/active, and the badge colour class of each.

export const RUN_STATUSES = [
  'Queued',
  'Preparing',
  'Starting',
  'Running',
  'Finalizing',
  'Completed',
  'Failed',
  'Canceled',
  'Preempted',
];

const TERMINAL = new Set(['Completed', 'Failed', 'Canceled']);

export function isTerminal(status: string): boolean {
  return TERMINAL.has(status);
}

/** Anything not terminal can be canceled (Queued, Preparing, Running, …, unknown future states). */
export function isActive(status: string): boolean {
  return !!status && !isTerminal(status);
}

export function statusClass(status: string): string {
  switch (status) {
    case 'Completed':
      return 'st-ok';
    case 'Failed':
      return 'st-bad';
    case 'Canceled':
      return 'st-muted';
    case 'Running':
    case 'Finalizing':
      return 'st-run';
    case 'Queued':
    case 'Preparing':
    case 'Starting':
      return 'st-wait';
    case 'Preempted':
      return 'st-warn';
    case 'ready':
      return 'st-ok';
    case 'unreachable':
    case 'failed':
      return 'st-bad';
    case 'stopped':
    case 'unavailable':
      return 'st-muted';
    case 'stopping':
    case 'starting':
      return 'st-wait';
    default:
      return 'st-other';
  }
}
