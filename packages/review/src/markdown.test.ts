import { describe, expect, it } from 'vitest'
import { markdownText } from './markdown.ts'

describe('markdownText', () => {
  it('turns HTML into entities and escapes inline Markdown and the cell separator', () => {
    expect(markdownText('<script>alert(1)</script> & **b** _i_ `c` [l](http://x) ![i](y) ~~s~~ a|b \\')).toBe(
      '&lt;script&gt;alert(1)&lt;/script&gt; &amp; \\*\\*b\\*\\* \\_i\\_ \\`c\\` \\[l\\](http://x) !\\[i\\](y) \\~\\~s\\~\\~ a\\|b \\\\')
  })

  it('keeps everything on one line', () => {
    expect(markdownText('a\nb\r\n# c\u2028d\u0000e')).toBe('a b # c d e')
  })

  it('leaves plain text as it is', () => {
    expect(markdownText('checkout-api 97.92 % (prod): ok')).toBe('checkout-api 97.92 % (prod): ok')
  })
})
