// The page's one door into the library: web/ imports chainrule only through this file.
export * from '../src/index.js';
