import { h, type FunctionalComponent } from 'vue'

/** Line icons for the navigation (24 px grid, drawn in the current text colour). */
const shapes: Record<string, string[]> = {
  models: ['M12 3 4 7.5v9L12 21l8-4.5v-9L12 3Z', 'M4 7.5 12 12l8-4.5', 'M12 12v9'],
  playground: [
    'M4 5h16a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1h-9l-5 4v-4H4a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1Z',
    'M8 11h.01',
    'M12 11h.01',
    'M16 11h.01',
  ],
  cache: [
    'M5 6c0-1.7 3.1-3 7-3s7 1.3 7 3-3.1 3-7 3-7-1.3-7-3Z',
    'M5 6v12c0 1.7 3.1 3 7 3s7-1.3 7-3V6',
    'M5 12c0 1.7 3.1 3 7 3s7-1.3 7-3',
  ],
  templates: [
    'M7 3h10a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2Z',
    'M9 8h6',
    'M9 12h2',
    'M13 12h2',
    'M9 16h4',
  ],
  pipelines: [
    'M6 8.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5Z',
    'M18 8.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5Z',
    'M12 20.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5Z',
    'M8.5 6h7',
    'M7.3 8.2l3.4 7.6',
    'M16.7 8.2l-3.4 7.6',
  ],
  distillation: ['M4 4h16l-6 8v6l-4 2v-8L4 4Z'],
  jobs: ['M4 6h16', 'M4 12h10', 'M4 18h6', 'M17 15v6', 'M14 18h6'],
  export: ['M12 15V3', 'M8 7l4-4 4 4', 'M5 13v6a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2v-6'],
  settings: [
    'M4 6h9',
    'M17 6h3',
    'M4 12h3',
    'M11 12h9',
    'M4 18h11',
    'M19 18h1',
    'M15 8a2 2 0 1 0 0-4 2 2 0 0 0 0 4Z',
    'M9 14a2 2 0 1 0 0-4 2 2 0 0 0 0 4Z',
    'M17 20a2 2 0 1 0 0-4 2 2 0 0 0 0 4Z',
  ],
  larder: ['M7 3h10', 'M8 3v3', 'M16 3v3', 'M6 6h12l-1 14a1 1 0 0 1-1 1H8a1 1 0 0 1-1-1L6 6Z', 'M9 11h6', 'M9 15h6'],
}

export type NavIconName = keyof typeof shapes

export const NavIcon: FunctionalComponent<{ name: NavIconName; size?: number }> = (props) =>
  h(
    'svg',
    {
      viewBox: '0 0 24 24',
      width: props.size ?? 20,
      height: props.size ?? 20,
      fill: 'none',
      stroke: 'currentColor',
      'stroke-width': 1.8,
      'stroke-linecap': 'round',
      'stroke-linejoin': 'round',
      'aria-hidden': 'true',
    },
    (shapes[props.name] ?? []).map((d) => h('path', { d })),
  )
NavIcon.props = ['name', 'size']
