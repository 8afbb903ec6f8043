/** 요청 로그 서랍(캐시 > 요청 로그)의 한국어 문구. `en/log-drawer.ts`와 같은 키. */
const logDrawer = {
  title: '요청 {id}',
  open: '열기',
  tenant: '테넌트',
  namespace: '네임스페이스',
  keyHash: '캐시 키 해시',
  reason: '미스 이유',
  noReason: '히트였습니다',
  parameters: '매개변수',
  noParameters: '답을 바꾸는 매개변수 없음',
  request: '요청(키로 쓰인 형태)',
  noRequest: '가져온 줄과 오래된 행에는 요청 본문이 없습니다.',
  response: '응답(답한 항목 또는 미스가 저장한 항목)',
  noEntry: '항목 없음: 이 요청은 저장되지 않았거나 항목이 삭제되었습니다.',
  openEntry: '항목 {id} 열기',
  loadFailed: '요청을 불러오지 못했습니다: {message}',
}

export default logDrawer
