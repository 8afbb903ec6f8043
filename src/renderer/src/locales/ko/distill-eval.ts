/** 증류 페이지의 평가·승격 탭 한국어 문구. `en/distill-eval.ts`와 같은 키. */
const distillEval = {
  tabs: { runs: '학습 실행', evaluations: '평가', promotions: '승격' },
  teacher: '교사',
  metric: {
    kl: 'KL (답변 위치)',
    top1: 'Top-1 일치율',
    nll: '교사 답변의 NLL',
    task: '작업 점수',
    winRate: '심판 승률',
  },
  col: {
    model: '모델',
    speed: '토큰/초',
    size: '크기',
    memory: '최대 RSS',
    memoryHint:
      '이 모델만 불러와 답변을 생성한 전용 모델 워커 프로세스의 최대 RSS입니다 (Node.js 런타임 포함, 값에 마우스를 올리면 기준값이 보입니다).',
    cost: '답변 1천 개당 비용',
    gate: '게이트',
  },
  gate: { passed: '통과', failed: '실패' },
  report: {
    title: '평가 보고서',
    empty:
      '아직 평가가 없습니다. 위의 “새 평가…”나 larder distill eval --dataset NAME --student MODEL --teacher MODEL 로 시작하세요.',
    pending: '평가 상태: {status}.',
    summary: '예제 {examples}개 · 작업 지표 {metric} · 교사 top-{k}와 꼬리 버킷',
    summaryNoTokens: '예제 {examples}개 · 작업 지표 {metric} · 토큰 지표 없음(이유는 옆에)',
    agreement: '교사와의 일치 (높을수록 좋음)',
    divergence: '교사와의 차이 (낮을수록 좋음)',
    curves: '학습 곡선',
    examples: '예제 나란히 보기 (교사 답변과 다른 부분 표시)',
    reference: '교사 답변',
    line: '{line}번째 줄',
  },
  promotions: {
    title: '승격',
    description:
      '승격하면 캐시 네임스페이스의 미스, 파이프라인의 모델 노드, 또는 템플릿 패밀리의 생성을 학생 모델이 맡습니다. 보고서의 게이트가 실패하면 재정의 사유 없이는 거부됩니다. 롤백은 이전 대상을 복원합니다.',
    empty:
      '아직 승격이 없습니다. 위 양식이나 larder distill promote --namespace NAME --model STUDENT --evaluation ID 로 승격하세요.',
    target: '대상',
    model: '학생 모델',
    gate: '게이트',
    who: '누가, 언제',
    state: '상태',
    passed: '통과 (보고서 {id})',
    override: '재정의',
    inForce: '적용 중',
    rolledBack: '{who}이(가) 롤백함, {when}',
    rollback: '롤백',
    rollbackConfirm: '{target}의 이전 대상을 복원할까요?',
    provider: '공급자 {name}',
    rollbackYes: '롤백',
    rollbackNo: '유지',
  },
}

export default distillEval
