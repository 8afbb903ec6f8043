/** 작업 페이지에서 각 작업이 만든 것으로 가는 링크의 한국어 문구. `en/job-links.ts`와 같은 키. */
const jobLinks = {
  column: '결과물',
  model: '모델 {label}',
  trace: '실행 {label} 트레이스',
  family: '패밀리 {label}',
  distillRun: '증류 실행 {label}',
  bundle: '번들 {label}',
  namespace: '네임스페이스 {label}',
  provider: '{label} 공급자',
}

export default jobLinks
