export default {
  in: '입력',
  out: '출력',
  pass: '통과',
  fail: '실패',
  score: '점수',
  reason: '이유',
  default: '기본',
  hit: '적중',
  miss: '미스',
}
