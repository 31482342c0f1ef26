//! The Portuguese phrase tables.

use super::Phrases;
use crate::synth::mix::DateStyle;

pub(super) const PT: Phrases = Phrases {
    lang: "pt",
    products: &["Outlook", "SAP", "Salesforce", "Teams", "SharePoint"],
    subjects: [
        &["{p} está fora do ar", "Urgente: não consigo acessar {p}"],
        &["Pedido de acesso a {p}", "Dúvida sobre o preço de {p}"],
        &["Erros recorrentes em {p}", "{p} trava com frequência"],
        &["Atualização planejada de {p}", "Pedido de mudança para {p}"],
    ],
    pair_subjects: [
        &["Erro em {p} desde a atualização", "Problema com {p}"],
        &["Por favor, atualizar {p}", "Configurar {p} para a equipe"],
    ],
    any_subjects: &["{p}", "Consulta sobre {p}"],
    openings: &["Olá,", "Bom dia,", "Prezada equipe de suporte,"],
    sentences: [
        &[
            "Desde esta manhã {p} não responde e a equipe não consegue trabalhar.",
            "{p} caiu há uma hora e ninguém consegue entrar.",
            "Há clientes afetados, por favor ajudem o quanto antes.",
        ],
        &[
            "Podem dar acesso a {p} para <name>?",
            "Gostaríamos de pedir duas licenças adicionais para {p}.",
            "Por favor enviem uma proposta para {p} para <email>.",
        ],
        &[
            "Vemos o mesmo erro de tempo limite em {p} várias vezes por dia.",
            "O problema continua há duas semanas e precisamos da causa.",
            "Reiniciar ajuda por algumas horas, depois os erros voltam.",
        ],
        &[
            "Planejamos atualizar {p} para a nova versão no sábado.",
            "Por favor confirmem a janela de manutenção para a migração.",
            "A mudança já foi aprovada pelo comitê de mudanças.",
        ],
    ],
    pair_sentences: [
        &[
            "Desde a última atualização {p} mostra um erro.",
            "{p} trava ao exportar relatórios.",
            "A conexão com {p} cai o tempo todo.",
        ],
        &[
            "Por favor atualizem {p} para a última versão.",
            "Podem configurar {p} para usar login único?",
            "Queremos alterar as permissões dos usuários em {p}.",
        ],
    ],
    any_sentences: &[
        "Usamos {p} na contabilidade.",
        "Segue uma captura de tela.",
        "Avisem se precisarem de mais informações.",
    ],
    details: [
        &["Código de erro: {code}."],
        &["Usamos a versão {ver}."],
        &["Data: {date}."],
        &["Cerca de {n} usuários estão afetados."],
        &["Conta <acc_num>.", "Meu telefone: <tel_num>."],
    ],
    closings: &["Atenciosamente, <name>", "Obrigado", "Abraço"],
    swaps: &[("Gostaríamos de", "Queremos"), ("Podem", "Poderiam")],
    dates: DateStyle::Slashed,
};
