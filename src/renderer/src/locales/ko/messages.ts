/**
 * Backend messages in Korean, one per key of src/shared/messages.ts (the type makes a missing key a compile error;
 * messages.test.ts checks that the placeholders match the English).
 */
import type { MessageKey } from '../../../../shared/messages'
import { nestMessages } from '../nest'

const ko: Record<MessageKey, string> = {
  'job.embedPlanning': '계획용으로 네임스페이스 {namespace}의 기록된 프롬프트 임베딩',
  'job.importRequestLog': '요청 로그 {file} 가져오기',
  'job.prewarmPlanned': '네임스페이스 {namespace}의 계획된 요청 {count}개 미리 채우기',
  'job.prewarmTop': '네임스페이스 {namespace}의 캐시되지 않은 상위 요청 {count}개 미리 채우기',
  'job.importEntries': '{file}에서 캐시 항목 가져오기',
  'job.exportEntries': '{file}(으)로 캐시 항목 내보내기',
  'job.reembed': '캐시 네임스페이스 {namespace} 다시 임베딩',
  'job.runPipeline': '파이프라인 {pipeline} 실행',
  'job.exportBundle': 'CDN 번들 {bundle} 내보내기',
  'job.exportBundleIncremental': 'CDN 번들 {bundle} 내보내기 (증분)',
  'job.backup': '워크스페이스를 {file}(으)로 백업',
  'job.restore': '{file}에서 워크스페이스 복원',
  'job.generateVariants': '패밀리 {family}의 템플릿 변형 생성 ({target})',
  'job.download': '{uri} 다운로드',
  'job.hash': '모델 {model} 해시 계산',
  'job.compare': '모델 {quantized}와(과) {original} 비교',
  'job.quantize': '모델 {model}을(를) {type}(으)로 양자화',
  'job.sweep': '모델 {model}의 {types} 비교',
  'job.train': '{run} 학습',
  'job.demo': '데모 워크스페이스 불러오기',

  'jobLog.started': '시작했습니다.',
  'jobLog.resumed': '다시 시작했습니다 (시도 {attempt}).',
  'jobLog.finished': '완료했습니다.',
  'jobLog.cancelled': '취소했습니다.',
  'jobLog.cancelledBeforeStart': '시작하기 전에 취소했습니다.',
  'jobLog.cancelledByOperator': '운영자가 취소했습니다.',
  'jobLog.pausedForShutdown': 'Larder가 종료되어 일시 중지했습니다. 다음 시작 때 이어서 실행합니다.',
  'jobLog.stoppedForShutdown':
    'Larder가 종료되어 중지했습니다. 이 종류의 작업은 이어서 실행할 수 없으니 다시 시작하세요.',
  'jobLog.willResume': '이 작업을 실행하던 프로세스가 예기치 않게 중지되었습니다. 이어서 실행합니다 (시도 {attempt}).',
  'jobLog.cancelledInCrash': '실행하던 프로세스가 예기치 않게 중지되는 동안 취소되었습니다.',
  'jobLog.unknownKind':
    '중단됨: 이 작업을 실행하던 프로세스가 예기치 않게 중지되었고, 이 버전의 Larder는 "{kind}" 작업을 이어서 실행할 수 없습니다.',
  'jobLog.gaveUp':
    '실행하던 프로세스가 예기치 않게 중지되어 {attempts}번 중단되었으므로 포기합니다. 로그를 확인한 뒤 다시 시작하세요.',
  'jobLog.notResumable':
    '중단됨: 이 작업을 실행하던 프로세스가 예기치 않게 중지되었고(충돌 또는 강제 종료), 이 종류의 작업은 이어서 실행할 수 없습니다. 다시 시작하세요.',

  'template.truncatedOutput': '답변이 {maxTokens} 토큰에서 잘렸습니다. generation.maxTokens를 늘리세요.',
  'template.invalidOutput': '답변이 요청한 JSON {json} 형식이 아닙니다.',
  'template.nearDuplicateRun': '이번 실행의 다른 답변과 너무 비슷합니다 ({score}).',
  'template.nearDuplicateVariant': '이 세그먼트의 변형 {variant}과(와) 너무 비슷합니다 ({score}).',
  'template.setDelimiter': '템플릿에서는 구분자 변경 태그({tag})를 쓸 수 없습니다. 슬롯은 {example}처럼 쓰세요.',
  'template.unknownSlot': '{tag}은(는) 이 패밀리의 슬롯이 아닙니다 (슬롯: {slots}).',
  'template.unknownSlotSuggest':
    '{tag}은(는) 이 패밀리의 슬롯이 아닙니다 (슬롯: {slots}). {suggestion}을(를) 뜻했나요?',
  'template.fallbackUnguarded':
    '대체 문구에서는 모든 슬롯이 자기 섹션 안에 있어야 합니다. 예: {open} ... {tag} ... {close}. 대체 문구는 데이터가 없을 때 쓰이기 때문입니다.',
  'template.optionalUnguarded':
    '{tag}은(는) 선택 슬롯입니다. 값이 없을 때 빈자리가 남지 않도록 {open} ... {close} 안에 넣으세요.',
  'template.missingRequiredSlot': '필수 슬롯 {tag}이(가) 없습니다.',
  'template.requiredSlotInSection': '필수 슬롯 {tag}이(가) 섹션 안에만 있어 일부 독자에게는 보이지 않습니다.',
  'template.duplicateSlot': '{tag}이(가) {count}번 나옵니다. 슬롯은 한 번씩만 쓰세요.',
  'template.brokenText':
    'U+FFFD ({char}) 문자가 있습니다. 깨진 UTF-8을 뜻하는 문자입니다(모델이 글자를 이루지 못하는 바이트 토큰을 만들었습니다). 승인하기 전에 텍스트를 고치세요.',
  'template.tooLong': '가장 긴 예시로 채우면 {length}자입니다. 한도는 {limit}자입니다.',
  'template.missingPhrase': '"{phrase}"을(를) 포함해야 합니다.',
  'template.bannedPhrase': '금지된 문구 "{phrase}"이(가) 들어 있습니다.',
  'template.rejectedByOperator': '운영자가 거부했습니다.',

  'error.invalidInput': '잘못된 입력: {detail}',
  'error.invalidInputAt': '"{field}"의 입력이 잘못되었습니다: {detail}',
  'error.unknownJobKind': '알 수 없는 작업 종류 "{kind}"입니다.',
  'error.invalidJobParams': '{kind}의 매개변수가 잘못되었습니다: {detail}',
  'error.jobNotFound': '작업 {id}이(가) 없습니다.',
  'error.jobAlreadyFinished': '작업 {id}은(는) 이미 완료되어 취소할 것이 없습니다.',
  'error.jobAlreadyFailed': '작업 {id}은(는) 이미 실패하여 취소할 것이 없습니다.',
  'error.jobAlreadyCancelled': '작업 {id}은(는) 이미 취소되어 취소할 것이 없습니다.',
  'error.modelNotLoaded': '{model}이(가) 로드되지 않았습니다. 먼저 로드하세요(모델 페이지 또는 models.load).',
  'error.familyNotFound': '템플릿 패밀리 {id}이(가) 없습니다.',

  'cacheNote.revertedTo': '버전 {version}(으)로 되돌림',
  'cacheNote.stateChange': '상태: {from} → {to}',
}

export default nestMessages(ko)
