/** 플레이그라운드 답변 동작의 한국어 문구. `en/chat-actions.ts`와 같은 키. */
const chatActions = {
  copy: '복사',
  copied: '복사했습니다.',
  copyFailed: '복사하지 못했습니다: {message}',
  presets: '프리셋',
  presetPlaceholder: '프리셋에서 시작',
  preset: {
    assistant: '당신은 도움이 되는 어시스턴트입니다. 짧고 정확하게 답하세요.',
    support:
      '당신은 온라인 상점의 고객 지원 담당자입니다. 친절하게 두세 문장으로 답하고, 필요하면 주문 번호를 물어보세요.',
    json: '요청한 스키마에 맞는 JSON으로만 답하세요. 설명은 쓰지 마세요.',
    translator: '사용자 메시지를 영어로 번역하세요. 이름, 숫자, 서식은 그대로 두세요.',
  },
  presetNames: {
    assistant: '도움이 되는 어시스턴트',
    support: '고객 지원 담당자',
    json: 'JSON만',
    translator: '번역기(영어로)',
  },
  regenerate: '다시 생성',
}

export default chatActions
