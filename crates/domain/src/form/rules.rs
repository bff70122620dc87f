//! Every rule's code and message, one constant per rule: the codes are the stable API of the
//! error redirect (`code=`), so they live apart from the checks that return them.

pub type Rule = (&'static str, &'static str);

const FORMULARIO: &str = "Formulario inválido.";

// R0 / F0 (declared fields; the reference logged no message for these).
pub const CAMPO_FALTANTE: Rule = ("campo_faltante", FORMULARIO);
pub const CAMPO_DEMASIADO_LARGO: Rule = ("campo_demasiado_largo", FORMULARIO);
pub const VALOR_NO_PERMITIDO: Rule = ("valor_no_permitido", FORMULARIO);
/// A declared e-mail field that does not parse: the same rule as the business-level check.
pub const CAMPO_CORREO_INVALIDO: Rule = CORREO_INVALIDO;
// R1 / F1.
pub const LLAVE_INVALIDA: Rule = ("llave_invalida", "La llave de idempotencia es inválida.");
// R2 / F2: see `ReceiptError::code` / `message`.
pub const COMPROBANTE_FALTANTE: Rule = ("comprobante_faltante", "No se envió la imagen.");
pub const COMPROBANTE_VACIO: Rule = ("comprobante_vacio", "Imagen inválida.");
pub const COMPROBANTE_MUY_GRANDE: Rule = ("comprobante_muy_grande", "Imagen inválida.");
pub const COMPROBANTE_EXTENSION_INVALIDA: Rule =
    ("comprobante_extension_invalida", "Imagen inválida.");
pub const COMPROBANTE_TIPO_INVALIDO: Rule = ("comprobante_tipo_invalido", "Imagen inválida.");
pub const COMPROBANTE_CONTENIDO_INVALIDO: Rule =
    ("comprobante_contenido_invalido", "Imagen inválida.");
// Delegaciones, in order.
pub const COMITE_NO_PERMITIDO_EN_CODELEGACION: Rule = (
    "comite_no_permitido_en_codelegacion",
    "Opción inválida de comité para codelegación.",
);
pub const COMITE_NO_PERMITIDO_EN_MODALIDAD: Rule = (
    "comite_no_permitido_en_modalidad",
    "Opción inválida de comité para la modalidad.",
);
pub const COMITES_REPETIDOS: Rule = ("comites_repetidos", "Opciones de comités repetidas.");
pub const FALTAN_DATOS_DELEGACION_OFICIAL: Rule = (
    "faltan_datos_delegacion_oficial",
    "Faltan datos de delegación oficial.",
);
pub const DELEGACIONES_REPETIDAS: Rule = (
    "delegaciones_repetidas",
    "Opciones de delegación repetidas.",
);
pub const FALTAN_OPCIONES_DELEGACION: Rule = (
    "faltan_opciones_delegacion",
    "Faltan opciones de delegación.",
);
pub const EDAD_INVALIDA: Rule = ("edad_invalida", "Edad inválida.");
pub const FALTAN_DATOS_CODELEGACION: Rule = (
    "faltan_datos_codelegacion",
    "Faltan datos de la codelegación.",
);
pub const CORREO_INVALIDO: Rule = ("correo_invalido", "Correo electrónico inválido.");
pub const CELULAR_INVALIDO: Rule = ("celular_invalido", "Número de celular inválido.");
pub const FALTA_ESCUELA: Rule = ("falta_escuela", "Falta la escuela.");
pub const DELEGACION_INVALIDA: Rule = ("delegacion_invalida", "Delegación inválida.");
pub const DELEGACION_NO_ENCONTRADA: Rule = (
    "delegacion_no_encontrada",
    "Delegación no encontrada en el catálogo.",
);
pub const DELEGACION_NO_DISPONIBLE_EN_CODELEGACION: Rule = (
    "delegacion_no_disponible_en_codelegacion",
    "Delegación no disponible para codelegación.",
);
// Faculty.
pub const NUMERO_DELEGACIONES_INVALIDO: Rule = (
    "numero_delegaciones_invalido",
    "Número de delegaciones inválido.",
);
pub const FALTAN_DATOS_DELEGACION: Rule =
    ("faltan_datos_delegacion", "Faltan datos de una delegación.");
pub const NUMERO_DELEGACIONES_NO_COINCIDE: Rule = (
    "numero_delegaciones_no_coincide",
    "Número de delegaciones no coincide.",
);
