// Task ids as people copy them: the whole id (32 hex digits), its first 4+ digits, or as the dashboard shows
// it, "7ffd509e…0bed" (also with "..."). The gateway's search finds jobs by them (gateway/id_search.py, the
// same rules as the CLI's): a whole id at any age, a shorter one among the LOOKED_AT newest jobs the key sees.

export const LOOKED_AT = 500;
const ID_LENGTH = 32;
const SHORT_ID = /^([0-9a-f]{4,32})(?:(?:…|\.\.\.?)([0-9a-f]{0,28}))?$/;

/** The id `text` reads as ({head, tail, whole}), or null. */
export function idPattern(text) {
  const found = SHORT_ID.exec(String(text || "").trim().toLowerCase());
  if (!found) return null;
  const [, head, tail = ""] = found;
  if (head.length + tail.length > ID_LENGTH) return null;
  return { head, tail, whole: head.length === ID_LENGTH };
}

export function idMatches(pattern, taskId) {
  return pattern.head.length + pattern.tail.length <= taskId.length && taskId.startsWith(pattern.head) && taskId.endsWith(pattern.tail);
}

/** Why a search for `text` (read as `pattern`) found no job, in words. */
export function noJobWithId(text, pattern, { admin, filtered }) {
  const where = filtered ? " with the filters set" : "";
  if (pattern.whole) {
    return `No job matches “${text}”${where}: a job with this id is ${admin ? "unknown or expired" : "unknown, expired, or not yours"}, and no URL, title or error holds it.`;
  }
  const names = pattern.tail ? `starts with ${pattern.head} and ends with ${pattern.tail}` : `starts with ${pattern.head}`;
  return `No job matches “${text}”${where}: no id among the ${LOOKED_AT} newest jobs ${admin ? "" : "you can see "}${names}, and no URL, title or error holds it. Paste the whole id to find an older job.`;
}
