/** 모델 라이브러리의 LoRA 어댑터: 모델 표에서 어댑터의 기반 모델을 보여 주는 태그. 키는 en/model-adapters.ts와 같다. */
import type en from '../en/model-adapters'

const modelAdapters: typeof en = {
  tag: '{base} 기반 LoRA',
  tooltip: 'LoRA 어댑터: 불러오면 {base}를 불러오고 그 컨텍스트에 어댑터를 적용합니다.',
}

export default modelAdapters
