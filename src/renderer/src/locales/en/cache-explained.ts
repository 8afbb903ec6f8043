/**
 * English text for the cache's explanations: why a request missed (the request log's Reason, the gateway's
 * x-larder-cache-reason), the serving policy, why one prompt has several entries, broken text, what money saved is
 * priced at, and the "approve N drafts" suggestion. `ko/cache-explained.ts` has the same keys. vue-i18n syntax:
 * {name} interpolates; avoid @ $ | and braces in plain text.
 */
const cacheExplained = {
  reasonColumn: 'Why not a hit',
  reasons: {
    'no-entry': 'Nothing stored',
    'draft-not-served': 'Draft not served',
    rejected: 'Entry rejected',
    expired: 'Entry expired',
    'guard-refused': 'Guard refused',
    'params-differ': 'Parameters differ',
    bypass: 'Bypassed (no-cache)',
  },
  reasonHints: {
    'no-entry': 'No answer is stored for this request yet; the generated one was stored as the namespace says.',
    'draft-not-served':
      'An answer is stored as a draft, and this namespace serves approved answers only. Approve it, or let the namespace serve drafts.',
    rejected: 'The stored answer was rejected, so it is not served; a new one was generated.',
    expired: 'The stored answer is past its time to live.',
    'guard-refused':
      'A similar request is cached, but a false-hit guard (negation, numbers) refused it: the meaning may differ.',
    'params-differ':
      'The same prompt is cached with other answer-changing parameters (max_tokens, temperature...), which are part of the key.',
    bypass: 'The client sent Cache-Control: no-cache.',
  },
  policy: {
    title: 'Serving policy',
    stored: 'Serve what is stored until curated',
    storedHint:
      'A repeated request gets the answer stored the first time, draft or approved. Curating (approve, edit, reject) changes what is served. The default.',
    approvedOnly: 'Approved only (strict)',
    approvedOnlyHint:
      'Only answers an operator approved are served; drafts wait for review and their requests are generated live each time.',
  },
  params: {
    column: 'Parameters',
    none: 'defaults',
    title: 'Answer-changing parameters',
    explain:
      'These are part of the cache key: the same prompt with another max_tokens or temperature can get a different answer, so it is another entry.',
    siblings: 'The same prompt is also cached with other parameters:',
    sibling: 'Entry {id} · {state} · {hits} hits · {params}',
  },
  broken: {
    warning:
      'This answer contains U+FFFD, the character that stands for broken UTF-8 (the model produced byte tokens that do not form a character). Edit it before approving; approval refuses it.',
    tag: 'broken text',
  },
  money: {
    priced:
      'Money at the prices set in Settings now ({input} per 1,000 tokens in, {output} out), applied to the tokens of every logged request, also those served before the prices were set.',
  },
  approveDrafts: {
    title: 'Approve drafts to raise the hit rate',
    body: 'Approving this draft would raise the projected hit rate from {now} to {after} ({target} is the target; held-out projection from the Planning tab). | Approving these {count} drafts would raise the projected hit rate from {now} to {after} ({target} is the target; held-out projection from the Planning tab).',
    bodyReached:
      'The approved entries already reach {now} of the projected traffic; no drafts are needed for {target}.',
    button: 'Approve {count} draft | Approve {count} drafts',
    done: 'Approved no drafts. | Approved {count} draft. | Approved {count} drafts.',
    skipped: '{count} with broken text were left as drafts: edit them first.',
    failed: 'Could not approve the drafts: {message}',
    noLog: 'Serve or import traffic first: the suggestion is computed from the request log.',
  },
}

export default cacheExplained
