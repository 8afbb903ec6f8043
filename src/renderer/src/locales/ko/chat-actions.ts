/** 플레이그라운드 답변 동작의 한국어 문구. `en/chat-actions.ts`와 같은 키. */
const chatActions = {
  copy: '복사',
  copied: '복사했습니다.',
  copyFailed: '복사하지 못했습니다: {message}',
  regenerate: '다시 생성',
}

export default chatActions
