/**
 * English text about how a cached answer ended (the entry drawer). `ko/cache-answers.ts` has the same keys.
 */
const cacheAnswers = {
  cutOff: 'Cut off',
  cutOffHint:
    'The model stopped at max_tokens: this answer is served as cut off (finish_reason "length"). Saving an edited answer makes it complete.',
  toolCall: 'Tool call',
  toolCalls: 'Tool calls',
  toolCallsHint: 'The model answered by calling tools; the cache serves these calls (finish_reason "tool_calls").',
}

export default cacheAnswers
