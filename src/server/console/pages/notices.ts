/**
 * What a page says after an action redirected to it (`?notice=`): a fixed list, so a link
 * cannot put words of its own on a console page. A Map: `constructor` or `toString` are not
 * in it, as they would be on a plain object.
 */
const NOTICES = new Map<string, string>([
  ['pull-started', 'Pull started.'],
  ['pull-skipped', 'Not started: the stream is running already (or cannot run now); see its state.'],
  ['unparked', 'Unparked: the stream runs at its next tick.'],
  ['backfill-started', 'Backfill started.'],
  ['backfill-cancelled', 'Cancel requested: the backfill stops after its current page.'],
  ['backfill-resumed', 'Backfill resumed from its checkpoints.'],
  ['rejects-retried', 'Quarantined rows retried; the trail below says how many passed.'],
  ['reset', 'Watermark reset: the next pull reads from the new position.'],
  ['saved', 'Connector saved: the scheduler picked it up.'],
]);

/** The notice a `?notice=` names; nothing for any other value. */
export function noticeOf(name: string | undefined): string | undefined {
  return name === undefined ? undefined : NOTICES.get(name);
}
