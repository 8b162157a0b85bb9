// The playground's pages, linked from each page's header: one list, so a new page is one line here.
/** The pages, in the order the header lists them. */
export const PAGES = [
  { href: 'index.html', label: 'Dense' },
  { href: 'images.html', label: 'Images' },
  { href: 'text.html', label: 'Text' },
] as const;

/** Fill `nav` with links to every page, the current one marked `aria-current="page"`. */
export function mountNav(nav: HTMLElement, current: string): void {
  nav.replaceChildren(
    ...PAGES.map((p) => {
      const a = document.createElement('a');
      a.href = p.href;
      a.textContent = p.label;
      if (p.href === current) a.setAttribute('aria-current', 'page');
      return a;
    }),
  );
}
