/** 모델 페이지의 양자화 부분 (유형 선택, 중요도 행렬, llama-quantize 옵션, 유형 비교). 키는 en/quantization.ts와 같다. */
import type en from '../en/quantization'

const quantization: typeof en = {
  description:
    'llama.cpp의 llama-quantize와 똑같이 (같은 텐서 유형, 같은 바이트) 가중치를 더 적은 비트로 다시 인코딩합니다. 정규화 등 1차원 텐서는 F32로 남습니다. 끝나면 이 모델과 비교해 품질 손실을 측정합니다.',
  groups: {
    nearLossless: '거의 무손실 (8비트, 6비트)',
    balanced: '균형 (5비트)',
    compact: '작게 (4비트)',
    smallest: '가장 작게, 소형 기기용 (3비트, 2비트)',
    unquantized: '양자화하지 않음',
  },
  option: '{type} · 가중치당 {bits}비트 · {size}',
  optionLoading: '{type}',
  notes: {
    Q8_0: '거의 무손실',
    Q6_K: '고품질',
    Q5_K_M: '많이 쓰는 기본값',
    Q4_K_M: '권장 기본값',
    Q3_K_M: '소형 기기',
    Q2_K: '손실 큼',
    Q2_K_S: '중요도 행렬 필요',
  },
  fallbacks: '텐서 {count}개 대체 유형 사용',
  needsImatrix: '중요도 행렬 필요',
  planFailed: '유형별 크기를 계산하려고 모델을 읽지 못했습니다: {message}',
  requantizeWarning:
    '이 모델은 이미 양자화되어 있습니다 ({type}). 다시 양자화하면 기존 오차에 새 오차가 더해져, F16/F32 원본을 양자화할 때보다 품질이 나빠집니다. 원본이 없을 때만 사용하세요.',
  allowRequantize: '역양자화 후 다시 양자화 (오차 누적)',
  imatrix: '중요도 행렬 (선택)',
  imatrixPlaceholder: '/path/to/model.imatrix.gguf',
  imatrixAbsolute: '파일의 절대 경로를 입력하세요.',
  imatrixNote:
    '중요도 행렬은 어떤 가중치가 중요한지 양자화기에 알려 주어 2~4비트 유형의 품질을 크게 높입니다. Larder는 직접 만들 수 없습니다: 모든 층의 활성값이 필요한데 node-llama-cpp가 이를 제공하지 않습니다. llama.cpp의 llama-imatrix로 만드세요 (GGUF 또는 .dat). docs/quantization.md를 참고하세요.',
  advanced: 'llama-quantize 옵션',
  outputTensorType: '출력 텐서 유형',
  tokenEmbeddingType: '토큰 임베딩 유형',
  automatic: '파일 유형에 따름',
  pure: '단일 유형: 혼합 없이 모든 텐서에 주 유형 사용',
  leaveOutputTensor: 'output.weight는 그대로 둠',
  doneBits: '가중치당 {bits}비트.',
  warningsTitle: '알아 둘 점',
  imatrixUsed: '중요도 행렬을 텐서 {used}개에 사용했습니다. {missing}개는 데이터가 없었습니다: {names}',
  compare: {
    title: '유형 비교',
    description:
      '이 모델을 여러 유형으로 차례로 양자화하고 (임시 파일, 끝나면 삭제) 샘플 텍스트에서 원본과 비교해 측정합니다. 크기와 품질 사이의 선택을 표 하나와 차트 하나로 보여 줍니다.',
    types: '비교할 유형',
    start: '비교',
    failed: '비교에 실패했습니다: {message}',
    metric: '차트',
    metricKl: '평균 KL 발산',
    metricTop1: 'Top-1 일치율',
    metricPerplexity: '퍼플렉서티',
    size: '크기',
    bits: '가중치당 비트',
    kl: '평균 KL',
    top1: 'Top-1',
    perplexity: '퍼플렉서티',
    type: '유형',
    original: '원본',
    axisSize: '파일 크기 (MB)',
    summary: '{model}의 유형 {count}개, 토큰 위치 {positions}개에서 측정{imatrix}.',
    withImatrix: ', 중요도 행렬 {name} 사용',
    empty: '이 모델의 비교 결과가 아직 없습니다.',
  },
}

export default quantization
