// Generates the app icons from resources/icon.svg (drawn for Larder), offline: sharp renders the SVG to PNGs,
// @shockpkg/icon-encoder packs them into Windows' .ico and macOS' .icns. electron-builder takes resources/ as its
// buildResources (icon.icns for macOS, icon.ico for Windows, icons/ for Linux); the console's favicon is the same
// drawing. The generated files are committed: run `npm run icons` after changing the SVG.
import { mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { IconIcns, IconIco } from '@shockpkg/icon-encoder'
import sharp from 'sharp'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const resources = join(root, 'resources')
const svg = readFileSync(join(resources, 'icon.svg'))

/** The SVG rendered at `size` x `size` (rasterised at that density, so small sizes stay sharp). */
async function png(size) {
  return sharp(svg, { density: (72 * size) / 1024 })
    .resize(size, size)
    .png({ compressionLevel: 9 })
    .toBuffer()
}

const sizes = [16, 24, 32, 48, 64, 128, 256, 512, 1024]
const rendered = new Map()
for (const size of sizes) rendered.set(size, await png(size))

// Linux (electron-builder reads icons/<size>x<size>.png) and the generic icon.png (512; 1024 for stores).
mkdirSync(join(resources, 'icons'), { recursive: true })
for (const size of [16, 24, 32, 48, 64, 128, 256, 512, 1024])
  writeFileSync(join(resources, 'icons', `${size}x${size}.png`), rendered.get(size))
writeFileSync(join(resources, 'icon.png'), rendered.get(512))
writeFileSync(join(resources, 'icon@2x.png'), rendered.get(1024))

// Windows: 16..256 in one .ico (PNG-compressed where older readers allow it).
const ico = new IconIco()
for (const size of [256, 128, 64, 48, 32, 24, 16]) await ico.addFromPng(rendered.get(size), null)
writeFileSync(join(resources, 'icon.ico'), ico.encode())

// macOS: the set iconutil writes, in its order.
const icns = new IconIcns()
icns.toc = true
const icnsTypes = [
  [64, 'ic12'],
  [128, 'ic07'],
  [256, 'ic13'],
  [256, 'ic08'],
  [16, 'ic04'],
  [512, 'ic14'],
  [512, 'ic09'],
  [32, 'ic05'],
  [1024, 'ic10'],
  [32, 'ic11'],
]
for (const [size, type] of icnsTypes) await icns.addFromPng(rendered.get(size), [type])
writeFileSync(join(resources, 'icon.icns'), icns.encode())

// The console's favicon (browser tab, and the desktop window's page) is the same drawing.
copyFileSync(join(resources, 'icon.svg'), join(root, 'src', 'renderer', 'public', 'favicon.svg'))
console.log(
  `Wrote resources/icon.png, icon@2x.png, icon.ico, icon.icns, icons/ (${sizes.join(', ')} px) and the favicon.`,
)
