// What the error page says for each `code` the API puts on its redirect (docs/errors.md lists
// them; a unit test checks every code there has a message here), and the Spanish name of every
// field the API may name in `campo`.

export const MENSAJES_CODIGO: Record<string, string> = {
	// malformed body
	formulario_mal_formado: 'No pudimos leer el formulario. Recarga la página e inténtalo de nuevo.',
	utf8_invalido: 'Algún campo contiene caracteres que no pudimos leer. Revisa tus datos e inténtalo de nuevo.',
	demasiados_campos: 'El envío no es válido. Recarga la página e inténtalo de nuevo.',
	cuerpo_demasiado_grande: 'El envío es demasiado grande. El comprobante debe pesar 5 MB como máximo.',
	archivo_inesperado: 'Solo se puede adjuntar un archivo: el comprobante de pago.',
	multiples_comprobantes: 'Adjunta un solo comprobante de pago.',
	campo_demasiado_largo: 'Uno de los campos es demasiado largo. Revisa tus datos.',
	// declared fields
	campo_faltante: 'Falta llenar un campo obligatorio.',
	valor_no_permitido: 'Una de las opciones elegidas no es válida. Vuelve a seleccionarla.',
	correo_invalido: 'Revisa el correo electrónico: no es una dirección válida.',
	// key
	llave_invalida: 'No pudimos procesar el envío. Recarga la página del formulario e inténtalo de nuevo.',
	// receipt
	comprobante_faltante: 'Adjunta tu comprobante de pago.',
	comprobante_extension_invalida: 'El comprobante debe ser un archivo PDF, PNG, JPG, WEBP o HEIC.',
	comprobante_muy_grande: 'El comprobante pesa más de 5 MB. Adjunta un archivo más ligero.',
	comprobante_tipo_invalido:
		'El tipo del archivo no coincide con su extensión. Adjunta el comprobante en PDF o como imagen.',
	comprobante_vacio: 'El archivo del comprobante está vacío. Adjunta otro archivo.',
	comprobante_contenido_invalido:
		'El archivo del comprobante está dañado o no es del tipo que indica su nombre. Adjunta otro archivo.',
	// delegate rules
	comite_no_permitido_en_codelegacion: 'Uno de los comités elegidos no admite codelegación. Elige otro comité.',
	comite_no_permitido_en_modalidad: 'Uno de los comités elegidos no está disponible en la modalidad seleccionada.',
	comites_repetidos: 'Elige tres comités distintos.',
	faltan_datos_delegacion_oficial: 'Indica el nombre de la delegación oficial y el de su responsable.',
	delegaciones_repetidas: 'Las tres opciones de delegación de un mismo comité deben ser distintas.',
	faltan_opciones_delegacion: 'Elige tres opciones de delegación en cada comité.',
	edad_invalida: 'La edad debe ser un número entre 11 y 26.',
	faltan_datos_codelegacion: 'Faltan datos del segundo participante de la codelegación.',
	celular_invalido: 'Revisa los números de celular: deben tener entre 7 y 15 dígitos.',
	falta_escuela: 'Indica la escuela (o elige «No estudio» en escolaridad).',
	delegacion_invalida: 'Una de las opciones de delegación no corresponde al comité elegido. Vuelve a elegirla.',
	delegacion_no_encontrada: 'Una de las delegaciones elegidas ya no está disponible. Vuelve a elegirla.',
	delegacion_no_disponible_en_codelegacion:
		'Una de las delegaciones elegidas no está disponible para codelegación.',
	// faculty rules
	numero_delegaciones_invalido: 'El número de delegaciones debe ser 4 o más.',
	faltan_datos_delegacion: 'Faltan datos de una de las delegaciones.',
	numero_delegaciones_no_coincide: 'El número de delegaciones no coincide con las delegaciones capturadas.',
	// idempotency and infrastructure
	registro_existente:
		'Ya habíamos recibido tu registro con otros datos. Si necesitas corregir algo, escríbenos; si es un registro nuevo, envía el formulario de nuevo.',
	conflicto_idempotencia: 'Hay otro envío en curso con datos distintos. Envía el formulario de nuevo.',
	registro_fallido: 'No pudimos completar tu registro anterior. Envía el formulario de nuevo.',
	en_proceso: 'Tu registro se está procesando. Espera unos segundos e inténtalo de nuevo.',
	almacenamiento_no_disponible:
		'Tuvimos un problema temporal al guardar tu registro. Inténtalo de nuevo en unos minutos; no se registrará dos veces.',
	demasiadas_solicitudes: 'Recibimos demasiados envíos desde tu conexión. Espera un minuto e inténtalo de nuevo.',
	servidor_ocupado:
		'Estamos recibiendo muchos envíos en este momento. Espera unos segundos e inténtalo de nuevo; no se registrará dos veces.'
};

export const MENSAJE_GENERICO =
	'No pudimos completar el envío. Revisa que todos tus datos estén correctos e inténtalo de nuevo.';

export const mensajeDeCodigo = (code: string | null): string =>
	(code && Object.hasOwn(MENSAJES_CODIGO, code) ? MENSAJES_CODIGO[code] : null) ?? MENSAJE_GENERICO;

const ETIQUETAS: Record<string, string> = {
	modalidad: 'Modalidad',
	delegacion_oficial: '¿Vienes con una delegación oficial?',
	nombre_delegacion_oficial: 'Nombre de la delegación oficial',
	responsable_delegacion_oficial: 'Responsable de la delegación oficial',
	nombre: 'Nombre(s)',
	apellido: 'Apellido(s)',
	edad: 'Edad',
	celular: 'Celular',
	correo: 'Correo electrónico',
	pais: 'País de residencia',
	ciudad_estado: 'Ciudad y estado',
	escolaridad: 'Escolaridad',
	escuela: 'Escuela',
	nombre_contacto: 'Nombre del contacto de emergencia',
	celular_contacto: 'Celular del contacto de emergencia',
	relacion_contacto: 'Relación con el contacto de emergencia',
	info_extra: 'Necesidades especiales (alergias, dieta…)',
	institucion_delegacion_oficial: 'Institución o delegación oficial',
	nombre_faculty: 'Nombre(s)',
	apellido_faculty: 'Apellido(s)',
	celular_faculty: 'Celular',
	correo_faculty: 'Correo electrónico',
	ciudad_estado_faculty: 'Ciudad y estado',
	pais_faculty: 'País',
	numero_delegaciones: 'Número de delegaciones',
	comprobante: 'Comprobante de pago',
	aceptar_reglamento: 'Acepto el reglamento',
	idempotency_key: 'Llave del envío'
};

const ORDINAL = ['primera', 'segunda', 'tercera'];

/** The label of a field on the page (`etiqueta('edad_0')` → "Edad"). */
export function etiqueta(campo: string): string {
	let m = /^comite_(\d)$/.exec(campo);
	if (m) return `Comité, ${ORDINAL[Number(m[1])] ?? ''} opción`.replace(' ,', ',');
	m = /^comite_(\d)_pais_(\d)$/.exec(campo);
	if (m) return `Delegación, ${ORDINAL[Number(m[2])] ?? ''} opción`;
	m = /^(.+)_(\d)$/.exec(campo);
	if (m && ETIQUETAS[m[1]]) return ETIQUETAS[m[1]];
	m = /^(.+)_d(\d+)$/.exec(campo);
	if (m && ETIQUETAS[m[1]]) return ETIQUETAS[m[1]];
	return ETIQUETAS[campo] ?? campo;
}

/** Where on the page a field is, in words (`ubicacion('edad_d3')` → "Edad, delegado 4"). */
export function ubicacion(campo: string): string {
	const base = etiqueta(campo);
	let m = /^comite_(\d)(?:_pais_\d)?$/.exec(campo);
	if (m) return `${base} (comité ${Number(m[1]) + 1})`;
	m = /^(.+)_([01])$/.exec(campo);
	if (m && ETIQUETAS[m[1]]) return `${base} (participante ${Number(m[2]) + 1})`;
	m = /^(.+)_d(\d+)$/.exec(campo);
	if (m && ETIQUETAS[m[1]]) return `${base} (delegado ${Number(m[2]) + 1})`;
	return base;
}
