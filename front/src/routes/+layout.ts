// Every page is prerendered to `<path>/index.html` (adapter-static): the API redirects to
// `/registro/confirmacion/` and `/registro/error/`, with the trailing slash.
export const prerender = true;
export const trailingSlash = 'always';
