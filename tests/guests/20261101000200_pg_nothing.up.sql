-- retort: parents = 20261101000100
-- retort: description = a comment-only migration (a recorded no-op), without a down file

/* Reserved: the reporting schema lands here next release; nothing to do yet. */
