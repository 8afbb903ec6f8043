/** 설정 페이지 머리말의 한국어 문구. `en/settings-page.ts`와 같은 키. */
const settingsPage = {
  description: '콘솔의 모양, 생성 비용, 워크스페이스 위치와 백업을 설정합니다.',
}

export default settingsPage
