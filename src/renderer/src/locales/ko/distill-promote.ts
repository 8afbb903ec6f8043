/** 증류 페이지 승격 탭의 승격 양식. */
const distillPromote = {
  title: '학생 모델 승격',
  description:
    '캐시 네임스페이스의 미스, 파이프라인의 모델 노드 하나, 또는 템플릿 패밀리의 생성을 학생 모델로 전환합니다. 선택한 보고서에서 게이트를 통과하지 않았다면 재정의 사유가 필요하며, 사유는 기록됩니다.',
  targetKind: '대상',
  kinds: { namespace: '캐시 네임스페이스', pipeline: '파이프라인 노드', family: '템플릿 패밀리' },
  namespace: '네임스페이스',
  pipeline: '파이프라인',
  node: '모델 노드',
  noModelNodes: '이 파이프라인에는 모델을 호출하는 노드가 없습니다.',
  family: '패밀리',
  studentKind: '학생',
  studentKinds: { model: '등록된 모델', provider: '공급자 (예: 원격 파인튜닝)' },
  model: '모델',
  provider: '공급자',
  evaluation: '보고서 (선택)',
  evaluationOption: '보고서 {id} · {name}',
  override: '재정의 사유',
  overrideHint: '보고서의 게이트가 이 학생에 대해 통과하지 않았거나 보고서가 없을 때 필요합니다.',
  choose: '선택…',
  fromReport: '승격…',
  submit: '승격',
  done: '승격됨: {target}이(가) 이제 {student}을(를) 사용합니다.',
}

export default distillPromote
