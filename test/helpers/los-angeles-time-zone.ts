/** Imported first by tests that must run in a zone far from UTC, before any driver loads. */
process.env.TZ = 'America/Los_Angeles';
