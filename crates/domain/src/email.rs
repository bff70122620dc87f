//! E-mail address normalisation. IMPLEMENTATION PENDING (helper).
