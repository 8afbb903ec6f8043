/**
 * Default text for quality reports after quantization when the operator gives none. Written for Larder (no
 * license questions); mixed prose, numbers and code-like lines so several kinds of token are scored.
 */
export const SAMPLE_EVALUATION_TEXT = `The warehouse opens at six in the morning, and the first delivery usually arrives before seven.
Each pallet is scanned, weighed and stored on a shelf whose number matches the last two digits of its order.
On busy days the team handles around 1,240 orders; on quiet days, fewer than 300.
When a customer asks where a parcel is, the answer is almost always one of three things: in transit, out for delivery, or delivered.
Because the same questions come again and again, the answers can be written once, checked by a person, and reused.
A cache of approved answers is cheaper than generating each reply, and it is also more consistent.
function shelfFor(orderId) { return orderId % 100 }
If the shelf is full, the parcel goes to the overflow area near the loading dock, and the system records its new place.
At the end of the day, a report lists how many parcels were received, shipped and returned, and how long each step took.`
