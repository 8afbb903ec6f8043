// The app icons electron-builder packs (resources/ is its buildResources): generated from our SVG by
// scripts/icons.mjs and committed. Checks each file is what its platform reads, at the sizes it needs.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const resources = join(import.meta.dirname, '..', 'resources')

function pngSize(bytes: Buffer): { width: number; height: number } {
  expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG')
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) }
}

describe('app icons', () => {
  it('has PNGs at 512 and 1024 and every Linux size', () => {
    expect(pngSize(readFileSync(join(resources, 'icon.png')))).toEqual({ width: 512, height: 512 })
    expect(pngSize(readFileSync(join(resources, 'icon@2x.png')))).toEqual({ width: 1024, height: 1024 })
    for (const size of [16, 32, 48, 64, 128, 256, 512, 1024])
      expect(pngSize(readFileSync(join(resources, 'icons', `${size}x${size}.png`)))).toEqual({
        width: size,
        height: size,
      })
  })

  it('has a Windows .ico with 16 to 256 pixel images', () => {
    const ico = readFileSync(join(resources, 'icon.ico'))
    expect(ico.readUInt16LE(0)).toBe(0)
    expect(ico.readUInt16LE(2)).toBe(1)
    const count = ico.readUInt16LE(4)
    // Directory entries: width and height bytes (0 means 256).
    const sizes = Array.from({ length: count }, (_, i) => ico[6 + i * 16] || 256).sort((a, b) => a - b)
    expect(sizes).toEqual([16, 24, 32, 48, 64, 128, 256])
  })

  it('has a macOS .icns with the iconutil set up to 1024 pixels', () => {
    const icns = readFileSync(join(resources, 'icon.icns'))
    expect(icns.subarray(0, 4).toString('latin1')).toBe('icns')
    expect(icns.readUInt32BE(4)).toBe(icns.length)
    const types: string[] = []
    for (let at = 8; at < icns.length; at += icns.readUInt32BE(at + 4))
      types.push(icns.subarray(at, at + 4).toString('latin1'))
    expect(types).toEqual(
      expect.arrayContaining(['ic04', 'ic05', 'ic07', 'ic08', 'ic09', 'ic10', 'ic11', 'ic12', 'ic13', 'ic14']),
    )
  })

  it('uses the same drawing for the console favicon, and electron-builder points at the icons', () => {
    const svg = readFileSync(join(resources, 'icon.svg'), 'utf8')
    expect(readFileSync(join(import.meta.dirname, '..', 'src', 'renderer', 'public', 'favicon.svg'), 'utf8')).toBe(svg)
    const builder = readFileSync(join(import.meta.dirname, '..', 'electron-builder.yml'), 'utf8')
    expect(builder).toMatch(/buildResources: resources/)
    expect(builder).toMatch(/icon: icon\.ico/)
    expect(builder).toMatch(/icon: icon\.icns/)
    expect(builder).toMatch(/icon: icons/)
  })
})
