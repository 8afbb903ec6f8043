/** 훈련 양식의 트레이너 선택(내장, 외부 명령, 파인튜닝 API)과 파인튜닝 API로 훈련한 실행의 한국어 문구. */
const distillTrainer = {
  trainer: '트레이너',
  builtin: '내장',
  command: '외부 명령',
  api: '파인튜닝 API',
  builtinHint: '이 컴퓨터에서 llama.cpp의 훈련 API로 훈련합니다. 결과는 라이브러리의 GGUF입니다.',
  commandLabel: '명령 템플릿',
  commandHint:
    'TRL, Axolotl, LLaMA-Factory 등 JSON-lines 진행 프로토콜을 쓰는 도구. 자리표시자는 docs/distillation.md에 있습니다.',
  apiHint:
    'OpenAI 호환 파인튜닝 API(OpenAI 또는 다른 Larder의 게이트웨이)에 데이터를 올리고 원격 작업을 따라갑니다. 결과는 원격 모델이며 새 공급자로 등록됩니다.',
  provider: '공급자',
  providerHint: '이 공급자의 기본 URL과 키로 파인튜닝 API에 접속하며, 파인튜닝된 모델도 같은 설정의 공급자가 됩니다.',
  noProviders: '설정된 공급자가 없습니다(모델 페이지의 공급자).',
  remoteModel: '원격 기본 모델',
  remoteModelHint: '비우면 공급자의 모델({model})을 씁니다.',
  suffix: '접미사',
  suffixHint: '파인튜닝된 모델 이름의 일부(영문자, 숫자, 점, 대시, 밑줄).',
  apiChat: '데이터는 채팅 JSONL이어야 하며, 검증용으로 떼어 둔 몫은 검증 파일로 보냅니다.',
  remoteResult: '원격 모델 {model}(작업 {job}), 공급자 {provider}가 제공합니다.',
  openProvider: '공급자 열기',
}

export default distillTrainer
