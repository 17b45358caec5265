/** The share of a stream's delivered records reconcile deletes without `--allow-mass-delete`. */
export const DEFAULT_MAX_DELETE_RATIO = 0.1;
