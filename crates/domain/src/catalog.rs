//! The conference catalog: committees, their delegations grouped by *tipo*, and the modality
//! rules as data. IMPLEMENTATION PENDING (helper).
