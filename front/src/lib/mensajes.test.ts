import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MENSAJE_GENERICO, MENSAJES_CODIGO, etiqueta, mensajeDeCodigo, ubicacion } from './mensajes';
import datos from './testdata/catalogo.json';

/** Every `code` docs/errors.md lists (first column of its tables). */
function codigosDocumentados(): string[] {
	const md = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
	return [...md.matchAll(/^\| `([a-z0-9_]+)` \|/gm)].map((m) => m[1]);
}

describe('error page messages', () => {
	it('cover every code the API documents, and nothing else', () => {
		const doc = new Set(codigosDocumentados());
		expect(doc.size).toBeGreaterThan(30);
		expect([...doc].filter((c) => !(c in MENSAJES_CODIGO))).toEqual([]);
		expect(Object.keys(MENSAJES_CODIGO).filter((c) => !doc.has(c))).toEqual([]);
	});

	it('an unknown or missing code gets the generic message', () => {
		expect(mensajeDeCodigo(null)).toBe(MENSAJE_GENERICO);
		expect(mensajeDeCodigo('toString')).toBe(MENSAJE_GENERICO);
		expect(mensajeDeCodigo('__proto__')).toBe(MENSAJE_GENERICO);
	});
});

describe('field names', () => {
	it('every declared field has a Spanish label', () => {
		const f = datos.formulario.campos;
		const nombres = [...f.delegaciones, ...f.faculty, ...f.faculty_fila].map((c) => c.nombre.replace('{i}', '7'));
		for (const n of nombres) expect(etiqueta(n), n).not.toBe(n);
	});

	it('locations name the participant, the row and the committee', () => {
		expect(ubicacion('edad_1')).toBe('Edad (participante 2)');
		expect(ubicacion('correo_d3')).toBe('Correo electrónico (delegado 4)');
		expect(ubicacion('comite_2_pais_0')).toBe('Delegación, primera opción (comité 3)');
		expect(ubicacion('comite_0')).toBe('Comité, primera opción (comité 1)');
	});
});
