import adapter from '@sveltejs/adapter-static';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	kit: {
		// Every page is prerendered to a static file: `registro serve` serves `build/` as is, and
		// production is static hosting (firebase.json). No page needs a server.
		adapter: adapter({ pages: 'build', assets: 'build', fallback: undefined, strict: true }),
		// Inline scripts SvelteKit writes are allowed by hash; nothing else runs on the page.
		csp: {
			mode: 'hash',
			directives: {
				'default-src': ['self'],
				'script-src': ['self'],
				'style-src': ['self', 'unsafe-inline'],
				'img-src': ['self', 'data:'],
				'font-src': ['self'],
				// The catalog is fetched from the API, which may live on another origin.
				'connect-src': ['self', ...(process.env.VITE_API_ORIGIN ? [process.env.VITE_API_ORIGIN] : [])],
				'form-action': ['self', ...(process.env.VITE_API_ORIGIN ? [process.env.VITE_API_ORIGIN] : [])],
				'base-uri': ['self'],
				'object-src': ['none']
			}
		}
	}
};

export default config;
