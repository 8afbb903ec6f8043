import type cacheAnswersEn from '../en/cache-answers'

/** 캐시된 답변이 어떻게 끝났는지(항목 서랍)에 관한 한국어 문구. */
const cacheAnswers: typeof cacheAnswersEn = {
  cutOff: '잘림',
  cutOffHint:
    '모델이 max_tokens에서 멈췄습니다. 이 답변은 잘린 답변(finish_reason "length")으로 제공됩니다. 답변을 고쳐 저장하면 완전한 답변이 됩니다.',
  toolCall: '도구 호출',
  toolCalls: '도구 호출',
  toolCallsHint:
    '모델이 도구를 호출하는 것으로 답했습니다. 캐시는 이 호출(finish_reason "tool_calls")을 그대로 제공합니다.',
}

export default cacheAnswers
