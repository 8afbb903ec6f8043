/** 양자화 모델에 보관된 품질 보고서: 판정 이유, 모델 표의 열, 상세 서랍의 구역. 키는 en/model-quality.ts와 같다. */
import type en from '../en/model-quality'

const modelQuality: typeof en = {
  column: '품질',
  none: '—',
  columnTooltip: '{original} 대비: Top-1 일치율 {top1}, 퍼플렉서티 {change}',
  section: '{original} 대비 품질',
  measured:
    '{when}에 {text}로 측정 ({positions}개 위치). 원본 모델의 상세 정보에서 더 자세한 비교를 실행할 수 있습니다.',
  text: { sample: '내장 예시 텍스트', custom: '입력한 텍스트' },
  whyTitle: '수치가 말하는 것',
  reason: {
    kl: '평균 KL 발산 {kl}: {words} (0.01 미만은 사실상 무손실, 0.2 초과는 큰 손실).',
    klWords: {
      excellent: '두 모델이 다음 토큰 확률을 사실상 똑같이 예측합니다',
      small: '다음 토큰 확률이 조금 다릅니다',
      clear: '다음 토큰 확률이 뚜렷하게 다릅니다',
      large: '다음 토큰 확률이 크게 다릅니다',
    },
    top1: 'Top-1 일치율 {top1}: 위치의 {differs}(약 {oneIn}개 중 1개)에서 양자화 모델이 가장 가능성 높게 보는 다음 토큰이 다르므로, 그리디(온도 0) 답변은 그 지점부터 달라집니다.',
    top1All: 'Top-1 일치율 100%: 채점한 모든 위치에서 가장 가능성 높은 다음 토큰이 같습니다.',
    perplexityFlat: '퍼플렉서티 {change}: 이 텍스트에서 양자화 모델은 정답 토큰을 원본만큼 확신합니다.',
    perplexityUp: '퍼플렉서티 {change}: 양자화 모델이 원본보다 정답 토큰을 덜 확신합니다.',
    perplexityDown: '퍼플렉서티 {change}: 이 텍스트에서 원본보다 낮지만, 이는 표본의 잡음이지 개선이 아닙니다.',
    top1VsPerplexity:
      '퍼플렉서티는 각 모델이 정답 토큰을 얼마나 확신하는지의 평균이라 작은 차이는 서로 상쇄되고, Top-1 일치율은 첫 번째 선택이 다른 곳을 셉니다. 퍼플렉서티가 그대로인데 일치율이 낮다면 답변의 표현이 달라진다는 뜻이지, 양자화 모델이 텍스트 전반에서 더 못하다는 뜻은 아닙니다.',
    fewPositions:
      '{positions}개 위치만 채점했습니다. 이 수치를 믿기 전에 직접 준비한 텍스트(수천 토큰)로 더 자세히 비교하세요.',
  },
}

export default modelQuality
