/**
 * Pairwise judging of a student's answer against the teacher's, asked twice with the positions swapped so a judge
 * that prefers the first (or second) answer cannot decide the result. Student wins both: 1; one each or ties: 0.5.
 */
import type { Provider } from '../../models/providers/types'

function verdict(text: string): 'A' | 'B' | 'tie' {
  const match = /\b(A|B|tie)\b/i.exec(text.trim())
  const value = match?.[1]?.toUpperCase()
  return value === 'A' ? 'A' : value === 'B' ? 'B' : 'tie'
}

async function ask(judge: Provider, rubric: string, prompt: string, first: string, second: string) {
  const result = await judge.generate({
    messages: [
      { role: 'system', content: `${rubric}\nReply with exactly one of: A, B, tie.` },
      { role: 'user', content: `Question:\n${prompt}\n\nAnswer A:\n${first}\n\nAnswer B:\n${second}` },
    ],
    maxTokens: 4,
    temperature: 0,
  })
  return verdict(result.text)
}

/** Mean win-rate of the student over the examples (ties and split verdicts count half). */
export async function judgeWinRate(
  judge: Provider,
  rubric: string,
  items: Array<{ prompt: string; teacher: string; student: string }>,
): Promise<number> {
  let total = 0
  for (const item of items) {
    const studentFirst = await ask(judge, rubric, item.prompt, item.student, item.teacher)
    const teacherFirst = await ask(judge, rubric, item.prompt, item.teacher, item.student)
    const points =
      (studentFirst === 'A' ? 1 : studentFirst === 'tie' ? 0.5 : 0) +
      (teacherFirst === 'B' ? 1 : teacherFirst === 'tie' ? 0.5 : 0)
    total += points / 2
  }
  return items.length === 0 ? 0 : total / items.length
}
