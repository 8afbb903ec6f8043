/**
 * English text of the Models page's quantization parts (type picker, importance matrix, llama-quantize options,
 * the comparison of several types). `ko/quantization.ts` has the same keys. vue-i18n syntax: {name} interpolates;
 * avoid @ $ | and braces in plain text.
 */
const quantization = {
  description:
    "Re-encode the weights in fewer bits, exactly as llama.cpp's llama-quantize does (same tensor types, same bytes). Norms and other 1-D tensors stay F32. The quality loss is measured against this model afterwards.",
  groups: {
    nearLossless: 'Near lossless (8 and 6 bits)',
    balanced: 'Balanced (5 bits)',
    compact: 'Compact (4 bits)',
    smallest: 'Smallest, for small devices (3 and 2 bits)',
    unquantized: 'Not quantized',
  },
  option: '{type} · {bits} bits/weight · {size}',
  optionLoading: '{type}',
  notes: {
    Q8_0: 'near lossless',
    Q6_K: 'quality',
    Q5_K_M: 'popular default',
    Q4_K_M: 'recommended default',
    Q3_K_M: 'small devices',
    Q2_K: 'large loss',
    Q2_K_S: 'needs an importance matrix',
  },
  fallbacks: '{count} tensors fall back',
  needsImatrix: 'needs an importance matrix',
  planFailed: 'Could not read this model to size the types: {message}',
  requantizeWarning:
    'This model is already quantized ({type}). Quantizing it again adds its error to the new one: quality will be worse than quantizing the F16/F32 original. Only do it when the original is gone.',
  allowRequantize: 'Dequantize and quantize again (errors compound)',
  imatrix: 'Importance matrix (optional)',
  imatrixPlaceholder: '/path/to/model.imatrix.gguf',
  imatrixAbsolute: 'Give the absolute path of the file.',
  imatrixNote:
    "An importance matrix tells the quantizer which weights matter most, which helps 2 to 4 bit types a lot. Larder cannot compute one: that needs the activations of every layer, which node-llama-cpp does not expose. Make one with llama.cpp's llama-imatrix (GGUF or .dat), see docs/quantization.md.",
  advanced: 'llama-quantize options',
  outputTensorType: 'Output tensor type',
  tokenEmbeddingType: 'Token embedding type',
  automatic: 'As the file type decides',
  pure: 'Pure: no mixture, every tensor gets the main type',
  leaveOutputTensor: 'Leave output.weight as it is',
  doneBits: '{bits} bits per weight.',
  warningsTitle: 'Worth knowing',
  imatrixUsed: 'Importance matrix used for {used} tensors; {missing} had no data: {names}',
  compare: {
    title: 'Compare types',
    description:
      'Quantizes this model to several types in turn (temporary files, deleted afterwards) and measures each against the original on the sample text: the choice between size and quality in one table and one chart.',
    types: 'Types to compare',
    start: 'Compare',
    failed: 'The comparison failed: {message}',
    metric: 'Chart',
    metricKl: 'Mean KL divergence',
    metricTop1: 'Top-1 agreement',
    metricPerplexity: 'Perplexity',
    size: 'Size',
    bits: 'Bits/weight',
    kl: 'Mean KL',
    top1: 'Top-1',
    perplexity: 'Perplexity',
    type: 'Type',
    original: 'original',
    axisSize: 'File size (MB)',
    summary: '{count} types of {model}, scored on {positions} token positions{imatrix}.',
    withImatrix: ' with importance matrix {name}',
    empty: 'No comparison yet for this model.',
  },
}

export default quantization
