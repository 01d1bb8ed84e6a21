import { describe, expect, it } from 'vitest'
import { markdownText } from './markdown.ts'

describe('markdownText', () => {
  it('turns HTML into entities and escapes inline Markdown and the cell separator', () => {
    expect(markdownText('<script>alert(1)</script> & **b** _i_ `c` [l](http://x) ![i](y) ~~s~~ a|b \\')).toBe(
      '&lt;script&gt;alert(1)&lt;/script&gt; &amp; \\*\\*b\\*\\* \\_i\\_ \\`c\\` \\[l\\](http:\u200c//x) !\\[i\\](y) \\~\\~s\\~\\~ a\\|b \\\\')
  })

  it('keeps everything on one line', () => {
    expect(markdownText('a\nb\r\n# c\u2028d\u0000e')).toBe('a b # c d e')
  })

  it('breaks the links GFM would make of bare URLs, www. and e-mail addresses, with an invisible ZWNJ', () => {
    const zwnj = '\u200c'
    expect(markdownText('Login at https://evil.example/reset or www.evil.example')).toBe(`Login at https:${zwnj}//evil.example/reset or www${zwnj}.evil.example`)
    expect(markdownText('FTP://x WWW.x Www.x ops@evil.example mailto:a@b.example')).toBe(`FTP:${zwnj}//x WWW${zwnj}.x Www${zwnj}.x ops${zwnj}@evil.example mailto:a${zwnj}@b.example`)
    // Nothing but the ZWNJ and the escapes is added: what a reader sees is what the alert said.
    const text = '(http://evil.example/a?b=c) *www.evil.example* x@y.example'
    expect(markdownText(text).replaceAll(zwnj, '').replace(/\\(.)/g, '$1')).toBe(text)
  })

  it('leaves plain text as it is', () => {
    expect(markdownText('checkout-api 97.92 % (prod): ok')).toBe('checkout-api 97.92 % (prod): ok')
  })
})
