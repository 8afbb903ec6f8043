/** 캐시 설명 문구: 미스 이유, 제공 정책, 매개변수, 깨진 텍스트, 금액 기준, 초안 승인 제안. 키는 en/cache-explained.ts와 같다. */
import type en from '../en/cache-explained'

const cacheExplained: typeof en = {
  reasonColumn: '히트가 아닌 이유',
  reasons: {
    'no-entry': '저장된 답변 없음',
    'draft-not-served': '초안은 제공 안 함',
    rejected: '거부된 항목',
    expired: '만료된 항목',
    'guard-refused': '가드가 거부함',
    'params-differ': '매개변수가 다름',
    bypass: '우회됨 (no-cache)',
  },
  reasonHints: {
    'no-entry': '이 요청에 저장된 답변이 아직 없습니다. 생성된 답변은 네임스페이스 설정대로 저장되었습니다.',
    'draft-not-served':
      '답변이 초안으로 저장되어 있지만 이 네임스페이스는 승인된 답변만 제공합니다. 승인하거나 초안도 제공하도록 바꾸세요.',
    rejected: '저장된 답변이 거부되어 제공되지 않았고, 새 답변을 생성했습니다.',
    expired: '저장된 답변의 유효 기간(TTL)이 지났습니다.',
    'guard-refused': '비슷한 요청이 캐시에 있지만 오탐 방지 가드(부정, 숫자)가 거부했습니다. 의미가 다를 수 있습니다.',
    'params-differ':
      '같은 프롬프트가 답변을 바꾸는 다른 매개변수(max_tokens, temperature 등)로 캐시되어 있습니다. 매개변수는 키의 일부입니다.',
    bypass: '클라이언트가 Cache-Control: no-cache를 보냈습니다.',
  },
  policy: {
    title: '제공 정책',
    stored: '검토 전까지 저장된 답변 제공',
    storedHint:
      '같은 요청이 반복되면 처음 저장된 답변(초안이든 승인이든)을 제공합니다. 검토(승인, 수정, 거부)하면 제공되는 답변이 바뀝니다. 기본값입니다.',
    approvedOnly: '승인된 답변만 (엄격)',
    approvedOnlyHint: '운영자가 승인한 답변만 제공합니다. 초안은 검토를 기다리고, 그 요청은 매번 새로 생성됩니다.',
  },
  params: {
    column: '매개변수',
    none: '기본값',
    title: '답변을 바꾸는 매개변수',
    explain:
      '캐시 키의 일부입니다. 같은 프롬프트라도 max_tokens나 temperature가 다르면 답변이 달라질 수 있어 별도의 항목이 됩니다.',
    siblings: '같은 프롬프트가 다른 매개변수로도 캐시되어 있습니다:',
    sibling: '항목 {id} · {state} · 히트 {hits}회 · {params}',
  },
  broken: {
    warning:
      '이 답변에는 깨진 UTF-8을 나타내는 문자 U+FFFD가 있습니다(모델이 문자를 이루지 못하는 바이트 토큰을 만들었습니다). 승인 전에 수정하세요. 승인은 거부됩니다.',
    tag: '깨진 텍스트',
  },
  money: {
    priced:
      '금액은 현재 설정의 가격(입력 1,000토큰당 {input}, 출력 {output})을 기록된 모든 요청의 토큰에 적용한 것입니다. 가격을 정하기 전에 처리된 요청도 포함됩니다.',
  },
  approveDrafts: {
    title: '초안을 승인해 히트율 높이기',
    body: '이 초안 {count}개를 승인하면 예상 히트율이 {now}에서 {after}로 오릅니다(목표 {target}, 계획 탭의 홀드아웃 예측).',
    bodyReached: '승인된 항목이 이미 예상 트래픽의 {now}를 차지합니다. {target}에 필요한 초안이 없습니다.',
    button: '초안 {count}개 승인',
    done: '초안 {count}개를 승인했습니다.',
    skipped: '깨진 텍스트가 있는 {count}개는 초안으로 남겼습니다. 먼저 수정하세요.',
    failed: '초안을 승인하지 못했습니다: {message}',
    noLog: '먼저 트래픽을 처리하거나 가져오세요. 제안은 요청 기록으로 계산합니다.',
  },
}

export default cacheExplained
