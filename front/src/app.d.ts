// See https://svelte.dev/docs/kit/types#app.d.ts
declare global {
	namespace App {}
}

interface ImportMetaEnv {
	/** Origin of the registro API (`https://api.example.org`); empty: the page's own origin. */
	readonly VITE_API_ORIGIN?: string;
}

export {};
